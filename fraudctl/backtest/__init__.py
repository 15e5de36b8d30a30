"""`fraudctl backtest`: replay a labelled file through the real stack and measure detection.

Modules: dataset (reading the file), replay (sending it in event-time order), labels
(delayed labels), retrain (pause and hot-swap the model), decisions (the decision log),
metrics (pure metric code), report (tables and plot), runner (one run end to end).
"""
