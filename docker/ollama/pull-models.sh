#!/bin/sh
# One-shot (service ollama-pull): download the chat and embedding models named in .env into the
# ollama-models volume; a no-op once they are there.
set -eu

for model in "$LLF_LLM_MODEL" "$LLF_EMBED_MODEL"; do
    echo "ollama-pull: $model from $OLLAMA_HOST"
    ollama pull "$model"
done
