"""DynamoDB adapters. Every item of a tenant lives under PK = TENANT#<id> (see template.yaml)."""
