"""Adapters implementing the data-plane ports (parsers, tokenizer, stores, models)."""
