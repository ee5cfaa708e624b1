"""Op work on a pool of workers (Ray actors) behind the same ZeroMQ front: ``framebridge serve --ray``.

:mod:`.executor` splits a job into chunks and streams their results back in order,
:mod:`.ordering` merges and cross-fades them, :mod:`.worker` is what each actor runs,
:mod:`.pool` starts the actors on Ray (the only module that imports Ray, when called).
"""
