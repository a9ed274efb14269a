/// The OpenAPI 3 description of every route, served at /openapi.json.
enum OpenAPIDocument {
    static let json = #"""
{
 "components": {
  "responses": {
   "Error": {
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    },
    "description": "An error"
   }
  },
  "schemas": {
   "Analysis": {
    "properties": {
     "layers": {
      "items": {
       "properties": {
        "macs": {
         "type": "integer"
        },
        "name": {
         "type": "string"
        },
        "output_shape": {
         "items": {
          "type": "integer"
         },
         "type": "array"
        },
        "params": {
         "type": "integer"
        },
        "receptive_field": {
         "properties": {
          "jump": {
           "items": {
            "type": "integer"
           },
           "type": "array"
          },
          "size": {
           "items": {
            "type": "integer"
           },
           "type": "array"
          },
          "start": {
           "items": {
            "type": "number"
           },
           "type": "array"
          }
         },
         "type": "object"
        },
        "type": {
         "type": "string"
        }
       },
       "required": [
        "name",
        "type",
        "output_shape",
        "params",
        "macs",
        "receptive_field"
       ],
       "type": "object"
      },
      "type": "array"
     },
     "total_macs": {
      "type": "integer"
     },
     "total_params": {
      "type": "integer"
     },
     "trainable_params": {
      "type": "integer"
     }
    },
    "required": [
     "layers",
     "total_params",
     "trainable_params",
     "total_macs"
    ],
    "type": "object"
   },
   "Classification": {
    "properties": {
     "model": {
      "type": "string"
     },
     "predictions": {
      "items": {
       "properties": {
        "index": {
         "type": "integer"
        },
        "label": {
         "type": "string"
        },
        "logit": {
         "type": "number"
        },
        "probability": {
         "type": "number"
        }
       },
       "required": [
        "index",
        "label",
        "probability",
        "logit"
       ],
       "type": "object"
      },
      "type": "array"
     },
     "timing_ms": {
      "properties": {
       "decode": {
        "type": "number"
       },
       "inference": {
        "type": "number"
       },
       "preprocess": {
        "type": "number"
       }
      },
      "type": "object"
     }
    },
    "required": [
     "model",
     "predictions",
     "timing_ms"
    ],
    "type": "object"
   },
   "Dataset": {
    "properties": {
     "classes": {
      "items": {
       "type": "string"
      },
      "type": "array"
     },
     "counts": {
      "additionalProperties": {
       "type": "integer"
      },
      "type": "object"
     },
     "created": {
      "type": "string"
     },
     "id": {
      "type": "string"
     },
     "skipped": {
      "type": "integer"
     }
    },
    "required": [
     "id",
     "classes",
     "counts",
     "skipped"
    ],
    "type": "object"
   },
   "DatasetList": {
    "properties": {
     "datasets": {
      "items": {
       "$ref": "#/components/schemas/Dataset"
      },
      "type": "array"
     }
    },
    "required": [
     "datasets"
    ],
    "type": "object"
   },
   "Error": {
    "properties": {
     "error": {
      "properties": {
       "code": {
        "type": "string"
       },
       "message": {
        "type": "string"
       }
      },
      "required": [
       "code",
       "message"
      ],
      "type": "object"
     }
    },
    "required": [
     "error"
    ],
    "type": "object"
   },
   "Job": {
    "properties": {
     "confusion_matrix": {
      "items": {
       "items": {
        "type": "integer"
       },
       "type": "array"
      },
      "type": "array"
     },
     "error": {
      "nullable": true,
      "type": "string"
     },
     "id": {
      "type": "string"
     },
     "labels": {
      "items": {
       "type": "string"
      },
      "type": "array"
     },
     "metrics": {
      "items": {
       "type": "object"
      },
      "type": "array"
     },
     "output_model": {
      "type": "string"
     },
     "per_class": {
      "items": {
       "type": "object"
      },
      "type": "array"
     },
     "progress": {
      "type": "object"
     },
     "request": {
      "type": "object"
     },
     "state": {
      "enum": [
       "queued",
       "running",
       "succeeded",
       "failed",
       "cancelled"
      ],
      "type": "string"
     }
    },
    "required": [
     "id",
     "state"
    ],
    "type": "object"
   },
   "JobList": {
    "properties": {
     "jobs": {
      "items": {
       "$ref": "#/components/schemas/Job"
      },
      "type": "array"
     }
    },
    "required": [
     "jobs"
    ],
    "type": "object"
   },
   "JobRequest": {
    "properties": {
     "augment": {
      "type": "boolean"
     },
     "base_model": {
      "type": "string"
     },
     "batch_size": {
      "type": "integer"
     },
     "dataset": {
      "type": "string"
     },
     "discriminative_factor": {
      "type": "number"
     },
     "early_stopping_patience": {
      "type": "integer"
     },
     "epochs": {
      "type": "integer"
     },
     "freeze": {
      "type": "string"
     },
     "learning_rate": {
      "type": "number"
     },
     "optimizer": {
      "enum": [
       "adamw",
       "sgd"
      ],
      "type": "string"
     },
     "output_model": {
      "type": "string"
     },
     "schedule": {
      "enum": [
       "one_cycle",
       "cosine",
       "constant"
      ],
      "type": "string"
     },
     "seed": {
      "type": "integer"
     },
     "validation_split": {
      "type": "number"
     }
    },
    "required": [
     "base_model",
     "dataset",
     "output_model"
    ],
    "type": "object"
   },
   "ModelDetail": {
    "properties": {
     "analysis": {
      "$ref": "#/components/schemas/Analysis"
     },
     "card": {
      "type": "object"
     },
     "input": {
      "items": {
       "type": "integer"
      },
      "type": "array"
     }
    },
    "required": [
     "card",
     "analysis",
     "input"
    ],
    "type": "object"
   },
   "ModelList": {
    "properties": {
     "models": {
      "items": {
       "$ref": "#/components/schemas/ModelSummary"
      },
      "type": "array"
     }
    },
    "required": [
     "models"
    ],
    "type": "object"
   },
   "ModelSummary": {
    "properties": {
     "classes": {
      "type": "integer"
     },
     "default": {
      "type": "boolean"
     },
     "format": {
      "enum": [
       "native",
       "onnx"
      ],
      "type": "string"
     },
     "input": {
      "items": {
       "type": "integer"
      },
      "type": "array"
     },
     "name": {
      "type": "string"
     }
    },
    "required": [
     "name",
     "default",
     "classes",
     "input",
     "format"
    ],
    "type": "object"
   },
   "Saliency": {
    "properties": {
     "class": {
      "properties": {
       "index": {
        "type": "integer"
       },
       "label": {
        "type": "string"
       }
      },
      "type": "object"
     },
     "completeness_error": {
      "type": "number"
     },
     "map": {
      "properties": {
       "channels": {
        "type": "integer"
       },
       "height": {
        "type": "integer"
       },
       "values": {
        "items": {
         "type": "number"
        },
        "type": "array"
       },
       "width": {
        "type": "integer"
       }
      },
      "type": "object"
     },
     "method": {
      "type": "string"
     },
     "model": {
      "type": "string"
     },
     "png_url": {
      "type": "string"
     },
     "probability": {
      "type": "number"
     },
     "score": {
      "type": "number"
     },
     "timing_ms": {
      "type": "object"
     }
    },
    "required": [
     "model",
     "method",
     "class",
     "score",
     "map",
     "png_url"
    ],
    "type": "object"
   },
   "Status": {
    "properties": {
     "models": {
      "type": "integer"
     },
     "status": {
      "type": "string"
     }
    },
    "type": "object"
   },
   "V2Tensor": {
    "properties": {
     "data": {
      "items": {
       "type": "number"
      },
      "type": "array"
     },
     "datatype": {
      "type": "string"
     },
     "name": {
      "type": "string"
     },
     "shape": {
      "items": {
       "type": "integer"
      },
      "type": "array"
     }
    },
    "required": [
     "name",
     "shape",
     "datatype",
     "data"
    ],
    "type": "object"
   }
  },
  "securitySchemes": {
   "bearer": {
    "scheme": "bearer",
    "type": "http"
   }
  }
 },
 "info": {
  "description": "CNN inference, saliency maps and fine-tuning.",
  "title": "Salient",
  "version": "1.0.0"
 },
 "openapi": "3.0.3",
 "paths": {
  "/healthz": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      },
      "description": "Alive"
     }
    },
    "summary": "Liveness"
   }
  },
  "/metrics": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      },
      "description": "Metrics"
     }
    },
    "summary": "Prometheus metrics"
   }
  },
  "/openapi.json": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      },
      "description": "OpenAPI"
     }
    },
    "summary": "This document"
   }
  },
  "/readyz": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      },
      "description": "Ready"
     },
     "503": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Status"
        }
       }
      },
      "description": "Not ready"
     }
    },
    "summary": "Readiness"
   }
  },
  "/v1/classify": {
   "post": {
    "parameters": [
     {
      "in": "query",
      "name": "top_k",
      "schema": {
       "default": 5,
       "maximum": 1000,
       "minimum": 1,
       "type": "integer"
      }
     }
    ],
    "requestBody": {
     "content": {
      "application/octet-stream": {
       "schema": {
        "format": "binary",
        "type": "string"
       }
      },
      "image/jpeg": {
       "schema": {
        "format": "binary",
        "type": "string"
       }
      },
      "image/png": {
       "schema": {
        "format": "binary",
        "type": "string"
       }
      },
      "multipart/form-data": {
       "schema": {
        "properties": {
         "image": {
          "format": "binary",
          "type": "string"
         }
        },
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "oneOf": [
          {
           "$ref": "#/components/schemas/Classification"
          },
          {
           "items": {
            "$ref": "#/components/schemas/Classification"
           },
           "type": "array"
          }
         ]
        }
       }
      },
      "description": "Top classes"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "413": {
      "$ref": "#/components/responses/Error"
     },
     "415": {
      "$ref": "#/components/responses/Error"
     },
     "422": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Classify with the default model"
   }
  },
  "/v1/datasets": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/DatasetList"
        }
       }
      },
      "description": "Datasets"
     }
    },
    "summary": "List datasets"
   },
   "post": {
    "requestBody": {
     "content": {
      "application/zip": {
       "schema": {
        "format": "binary",
        "type": "string"
       }
      }
     },
     "required": true
    },
    "responses": {
     "201": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Dataset"
        }
       }
      },
      "description": "Stored"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "413": {
      "$ref": "#/components/responses/Error"
     },
     "415": {
      "$ref": "#/components/responses/Error"
     },
     "422": {
      "$ref": "#/components/responses/Error"
     }
    },
    "security": [
     {
      "bearer": []
     }
    ],
    "summary": "Upload a zip of class folders"
   }
  },
  "/v1/datasets/{id}": {
   "delete": {
    "parameters": [
     {
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "204": {
      "description": "Deleted"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     }
    },
    "security": [
     {
      "bearer": []
     }
    ],
    "summary": "Delete a dataset"
   }
  },
  "/v1/jobs": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/JobList"
        }
       }
      },
      "description": "Jobs"
     }
    },
    "summary": "List jobs"
   },
   "post": {
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/JobRequest"
       }
      }
     },
     "required": true
    },
    "responses": {
     "202": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Job"
        }
       }
      },
      "description": "Queued"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "409": {
      "$ref": "#/components/responses/Error"
     }
    },
    "security": [
     {
      "bearer": []
     }
    ],
    "summary": "Start a fine-tuning job"
   }
  },
  "/v1/jobs/{id}": {
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Job"
        }
       }
      },
      "description": "Job"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "A job"
   }
  },
  "/v1/jobs/{id}/cancel": {
   "post": {
    "parameters": [
     {
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Job"
        }
       }
      },
      "description": "Job"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "409": {
      "$ref": "#/components/responses/Error"
     }
    },
    "security": [
     {
      "bearer": []
     }
    ],
    "summary": "Cancel a job"
   }
  },
  "/v1/jobs/{id}/events": {
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "text/event-stream": {
        "schema": {
         "type": "string"
        }
       }
      },
      "description": "Event stream"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Progress as Server-Sent Events"
   }
  },
  "/v1/models": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ModelList"
        }
       }
      },
      "description": "Models"
     }
    },
    "summary": "List models"
   },
   "post": {
    "requestBody": {
     "content": {
      "multipart/form-data": {
       "schema": {
        "properties": {
         "file": {
          "format": "binary",
          "type": "string"
         },
         "labels": {
          "type": "string"
         },
         "name": {
          "type": "string"
         },
         "preprocessing": {
          "type": "string"
         }
        },
        "required": [
         "file",
         "name",
         "labels"
        ],
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "201": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ModelSummary"
        }
       }
      },
      "description": "Registered"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "409": {
      "$ref": "#/components/responses/Error"
     },
     "413": {
      "$ref": "#/components/responses/Error"
     },
     "415": {
      "$ref": "#/components/responses/Error"
     },
     "422": {
      "$ref": "#/components/responses/Error"
     }
    },
    "security": [
     {
      "bearer": []
     }
    ],
    "summary": "Upload an ONNX model"
   }
  },
  "/v1/models/{name}": {
   "delete": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "204": {
      "description": "Deleted"
     },
     "401": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "409": {
      "$ref": "#/components/responses/Error"
     }
    },
    "security": [
     {
      "bearer": []
     }
    ],
    "summary": "Delete a model"
   },
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/ModelDetail"
        }
       }
      },
      "description": "Model"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Card and layer table"
   }
  },
  "/v1/models/{name}/classify": {
   "post": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "top_k",
      "schema": {
       "default": 5,
       "maximum": 1000,
       "minimum": 1,
       "type": "integer"
      }
     }
    ],
    "requestBody": {
     "content": {
      "application/octet-stream": {
       "schema": {
        "format": "binary",
        "type": "string"
       }
      },
      "image/jpeg": {
       "schema": {
        "format": "binary",
        "type": "string"
       }
      },
      "image/png": {
       "schema": {
        "format": "binary",
        "type": "string"
       }
      },
      "multipart/form-data": {
       "schema": {
        "properties": {
         "image": {
          "format": "binary",
          "type": "string"
         }
        },
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "oneOf": [
          {
           "$ref": "#/components/schemas/Classification"
          },
          {
           "items": {
            "$ref": "#/components/schemas/Classification"
           },
           "type": "array"
          }
         ]
        }
       }
      },
      "description": "Top classes"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "413": {
      "$ref": "#/components/responses/Error"
     },
     "415": {
      "$ref": "#/components/responses/Error"
     },
     "422": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Classify images"
   }
  },
  "/v1/models/{name}/export": {
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "format",
      "schema": {
       "enum": [
        "onnx",
        "safetensors"
       ],
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/octet-stream": {
        "schema": {
         "format": "binary",
         "type": "string"
        }
       }
      },
      "description": "The file"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "422": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Export weights"
   }
  },
  "/v1/models/{name}/saliency": {
   "post": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "method",
      "schema": {
       "enum": [
        "gradient",
        "smoothgrad",
        "integrated_gradients",
        "gradcam",
        "guided_backprop"
       ],
       "type": "string"
      }
     },
     {
      "description": "top, a class index, or a label",
      "in": "query",
      "name": "class",
      "schema": {
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "reduce",
      "schema": {
       "enum": [
        "max_abs",
        "mean_abs",
        "rgb"
       ],
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "colormap",
      "schema": {
       "enum": [
        "gray",
        "viridis",
        "inferno",
        "magma",
        "jet"
       ],
       "type": "string"
      }
     },
     {
      "in": "query",
      "name": "overlay",
      "schema": {
       "type": "boolean"
      }
     },
     {
      "in": "query",
      "name": "alpha",
      "schema": {
       "maximum": 1,
       "minimum": 0,
       "type": "number"
      }
     },
     {
      "in": "query",
      "name": "format",
      "schema": {
       "enum": [
        "png",
        "json"
       ],
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "content": {
      "application/octet-stream": {
       "schema": {
        "format": "binary",
        "type": "string"
       }
      },
      "image/jpeg": {
       "schema": {
        "format": "binary",
        "type": "string"
       }
      },
      "image/png": {
       "schema": {
        "format": "binary",
        "type": "string"
       }
      },
      "multipart/form-data": {
       "schema": {
        "properties": {
         "image": {
          "format": "binary",
          "type": "string"
         }
        },
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Saliency"
        }
       },
       "image/png": {
        "schema": {
         "format": "binary",
         "type": "string"
        }
       }
      },
      "description": "The map"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "413": {
      "$ref": "#/components/responses/Error"
     },
     "415": {
      "$ref": "#/components/responses/Error"
     },
     "422": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "Saliency map"
   }
  },
  "/v1/saliency/{id}.png": {
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "id",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "image/png": {
        "schema": {
         "format": "binary",
         "type": "string"
        }
       }
      },
      "description": "PNG"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "A rendered map"
   }
  },
  "/v2/health/live": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "live": {
           "type": "boolean"
          }
         },
         "type": "object"
        }
       }
      },
      "description": "Live"
     }
    },
    "summary": "KServe v2 liveness"
   }
  },
  "/v2/health/ready": {
   "get": {
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "ready": {
           "type": "boolean"
          }
         },
         "type": "object"
        }
       }
      },
      "description": "Ready"
     }
    },
    "summary": "KServe v2 readiness"
   }
  },
  "/v2/models/{name}": {
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "required": [
          "name",
          "inputs",
          "outputs"
         ],
         "type": "object"
        }
       }
      },
      "description": "Metadata"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "KServe v2 model metadata"
   }
  },
  "/v2/models/{name}/infer": {
   "post": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "requestBody": {
     "content": {
      "application/json": {
       "schema": {
        "properties": {
         "id": {
          "type": "string"
         },
         "inputs": {
          "items": {
           "$ref": "#/components/schemas/V2Tensor"
          },
          "type": "array"
         }
        },
        "required": [
         "inputs"
        ],
        "type": "object"
       }
      }
     },
     "required": true
    },
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "properties": {
          "model_name": {
           "type": "string"
          },
          "outputs": {
           "items": {
            "$ref": "#/components/schemas/V2Tensor"
           },
           "type": "array"
          }
         },
         "required": [
          "model_name",
          "outputs"
         ],
         "type": "object"
        }
       }
      },
      "description": "Outputs"
     },
     "400": {
      "$ref": "#/components/responses/Error"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     },
     "503": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "KServe v2 inference"
   }
  },
  "/v2/models/{name}/ready": {
   "get": {
    "parameters": [
     {
      "in": "path",
      "name": "name",
      "required": true,
      "schema": {
       "type": "string"
      }
     }
    ],
    "responses": {
     "200": {
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      },
      "description": "Ready"
     },
     "404": {
      "$ref": "#/components/responses/Error"
     }
    },
    "summary": "KServe v2 model readiness"
   }
  }
 }
}
"""#
}
