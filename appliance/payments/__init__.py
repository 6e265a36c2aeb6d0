"""Online payment providers (issue 20): each a small module behind one interface
(`provider.Provider`), speaking its provider's HTTP API at a configurable base URL. Providers
know no account or ledger: billing's walk-in rules call them and book what they confirm."""
