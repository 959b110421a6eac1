"""The ketamine course: sessions recorded by the therapist, seen by the patient."""
