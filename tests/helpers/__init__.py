"""What the test modules share. A test module imports only from here (and its fixtures come from the
conftest.py files): no test module imports another, nor a conftest. Nothing here is collected."""
