"""The Node.js servers the benchmark compares the BFF with (the JavaScript files beside this one),
their installation (install.py) and the comparison itself (peers.py)."""
