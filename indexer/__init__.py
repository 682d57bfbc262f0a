"""The workspace index: chunking, the LanceDB store, the watcher, the worker process and the headless CLI."""
