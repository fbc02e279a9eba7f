"""The Step Functions pipeline's steps: Prepare -> ProcessBatch (per document, per page batch)
-> Assemble -> Verify -> Finalize, and MarkFailed as every step's Catch target."""
