"""Auditor toolkit: verify, from an RPC URL and exported manifest files alone, that every token minted is explained.

`manifest_file` (format), `chain_reader` (JSON-RPC only), `mirror_reader` (optional indexer mirror), `verifier`
(pure checks → findings), `report` (table + JSON), `export` (database → manifest files).
"""
