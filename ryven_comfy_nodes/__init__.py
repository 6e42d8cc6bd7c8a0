"""Ryven node package for ryven-comfy: ComfyUI workflows as nodes, run across a pool of servers.

Importing the package imports nothing heavy; Ryven loads ``ryven_comfy_nodes.nodes``.
"""
