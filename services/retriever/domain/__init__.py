"""The retriever's pure logic: chunking, lexical scoring, fusion, corpus text and its errors."""
