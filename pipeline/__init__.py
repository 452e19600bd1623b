"""camid's pure core: camera registry, records, metadata reading, filters, splits, manifests.

Nothing here touches the network, SQL, Prefect or torch (a test reads the imports to keep it so).
"""

__version__ = "0.1.0"
