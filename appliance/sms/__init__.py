"""SMS providers for one-time sign-up codes (MSG91, Twilio) behind one small interface."""
