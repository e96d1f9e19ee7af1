/** Class labels of a model built without `--labels`. */
export const DEFAULT_LABELS = ['anger', 'fear', 'neutral', 'sadness', 'surprise'];
