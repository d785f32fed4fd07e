"""What workflows and activities agree on, one module per boundary: activity names, their
input and result models, and the error types a workflow reacts to. Workflows import these,
never an activity's implementation; activities import these, never the client. Pure: no
I/O, safe in the workflow sandbox."""
