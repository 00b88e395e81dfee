"""Export of the DINO + ST front-end (ONNX, TensorRT, compiled PyTorch).

Not yet written: it arrives with the export issue. The front-end to export is
attnseg.model.FrontEnd.
"""
