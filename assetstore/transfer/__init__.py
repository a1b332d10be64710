"""Moving versions: push (scan, plan, send, commit), pull (fetch, verify, install), and
copies between stores."""
