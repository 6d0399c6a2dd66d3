"""Transfer Explorer's engine: data, models, trainers and the run store (no UI code here)."""
