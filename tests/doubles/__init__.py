"""Test doubles: a scripted OpenAI-compatible server, the synthetic Self-Instruct responder it
answers with, and a stand-in for the Hub's HTTP API. They live here, never in the package."""
