"""OCR: page images to words, and words back onto pages.

Every OCR engine returns pages in one shape, which the result JSON, hOCR and the searchable
PDF's text layer are all built from:

    {"page": 1, "width": 612.0, "height": 792.0, "rotation": 0,
     "lines": [{"text": "Hello world", "bbox": [x0, y0, x1, y1], "confidence": 96.5,
                "words": [{"text": "Hello", "bbox": [...], "confidence": 97.1}, ...]}]}

Sizes and boxes are PDF points with the origin at the top-left of the page as displayed
(after its /Rotate), like every other bbox in this API; confidences are 0..100.
"""
