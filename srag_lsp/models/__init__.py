"""Model backends: Ollama over HTTP and llama.cpp embedded in the process, behind one small interface."""
