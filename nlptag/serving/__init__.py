"""``nlptag serve``: bundles behind a JSON HTTP API (FastAPI + uvicorn) with micro-batching.

- :mod:`nlptag.serving.app`: the application factory (:func:`~nlptag.serving.app.create_app`);
- :mod:`nlptag.serving.batcher`: gathers concurrent requests to a model into one forward pass;
- :mod:`nlptag.serving.models`: a loaded bundle as served (name, task, labels, hash), and how each
  task's inputs are checked and run;
- :mod:`nlptag.serving.schemas`: the request and response models (the OpenAPI schemas);
- :mod:`nlptag.serving.metrics`: counters and histograms in the Prometheus text format;
- :mod:`nlptag.serving.cli`: the ``nlptag serve`` command.

Install with ``pip install -e ".[serve]"``.
"""
