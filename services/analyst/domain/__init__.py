"""The analyst's pure logic: question planning, sentence selection, cited drafts and their checks."""
