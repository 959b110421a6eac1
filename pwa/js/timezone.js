// Fill the hidden time-zone field so entries land on the right local day from the first check-in.
const field = document.getElementById("timezone");
if (field) {
  try {
    field.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    field.value = "";
  }
}
