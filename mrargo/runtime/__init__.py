"""Task bodies shared by every backend, and the record formats they use."""
