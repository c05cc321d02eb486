"""The orchestrator: keeps each run as an event-sourced aggregate and drives its task DAG."""
