"""What runs on an operator's or developer's machine, never in Lambda: the ``xenblocks``
command line (``tools.cli``), the cost model (``tools.cost``) and the like. The Lambda code
asset is ``functions/`` and ``protocol/`` only (``infra.packaging.CODE_PACKAGES``), so
nothing here ships in it."""
