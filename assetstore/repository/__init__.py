"""One store on one backend: the bucket layout (``layout.py``), reading versions and
manifests (``repository.py``), the protocol that commits a version and gives back the
number of a push that died (``commit.py``), and the backend check (``check.py``)."""
