"""Pure text helpers: cleaning, dates, URLs, content hash, MinHash, topics, article preparation."""
