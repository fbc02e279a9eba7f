"""PII detection: personal data found in page text, with the words and boxes it covers."""
