"""The reporter's pure logic: report structure, length fitting, Markdown and redaction."""
