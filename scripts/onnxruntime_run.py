"""Checks an ONNX model with onnx.checker and runs it in onnxruntime.

usage: onnxruntime_run.py model.onnx input.pb output.pb
The input and output are serialized TensorProto files; the model's first input is fed.
"""
import sys

import numpy as np
import onnx
import onnxruntime
from onnx import numpy_helper


def main(model_path, input_path, output_path):
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    tensor = onnx.TensorProto()
    with open(input_path, "rb") as f:
        tensor.ParseFromString(f.read())
    x = numpy_helper.to_array(tensor).astype(np.float32)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {session.get_inputs()[0].name: x})[:1]
    with open(output_path, "wb") as f:
        f.write(numpy_helper.from_array(np.asarray(y, dtype=np.float32), "output").SerializeToString())


if __name__ == "__main__":
    main(*sys.argv[1:4])
