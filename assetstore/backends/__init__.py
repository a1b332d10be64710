"""The only code that knows a provider: the ``Backend`` interface (``base.py``), the
registry (data: name -> backend class, imported on first use), one module per provider,
and the classification of what their SDKs raise (``faults.py``)."""
