"""The child side: what runs inside a worker process (or on a Dask worker); it never imports
the runner side.
"""
