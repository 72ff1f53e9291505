"""Domain rules. Logic never sees an event, an HTTP request or boto3."""
