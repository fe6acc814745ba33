"""The index: embeddings, the vector store, the catalog of passages, retrieval and ingestion."""
