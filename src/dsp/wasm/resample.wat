;; The polyphase resampler's inner loop in WebAssembly SIMD (see ../resampler.ts, which owns the
;; state and the design). V8 neither vectorises JavaScript nor drops its typed-array bounds checks;
;; two f64 multiply-adds per instruction run the dot products here at several times the speed.
;;
;; Memory (imported, one per resampler) holds, at byte offsets given by the caller:
;;   phases: up × taps coefficients, phase-major, each phase in chronological order;
;;   line:   the last taps - 1 samples of earlier frames, then this frame's samples, so that the
;;           taps ending at input i are line[i .. i + taps) (written by the caller beforehand:
;;           the kernel only reads them, which keeps 16-byte loads off just-stored 8-byte values);
;;   out:    the output samples.
;; taps is a multiple of 4. Returns the number of outputs; the caller advances `phase` by
;; outputs·down - length·up and moves the line's tail to its start.
(module
  (import "env" "memory" (memory 1))
  (func (export "resample")
    (param $phases i32) (param $line i32) (param $taps i32) (param $up i32) (param $down i32)
    (param $length i32) (param $out i32) (param $phase i32)
    (result i32)
    (local $i i32) (local $n i32) (local $tapBytes i32)
    (local $c i32) (local $h i32) (local $end i32) (local $a v128) (local $b v128)
    (local.set $tapBytes (i32.shl (local.get $taps) (i32.const 3)))
    (block $inputsDone
      (loop $inputs
        (br_if $inputsDone (i32.ge_u (local.get $i) (local.get $length)))
        (block $outputsDone
          (loop $outputs
            (br_if $outputsDone (i32.ge_u (local.get $phase) (local.get $up)))
            (local.set $c
              (i32.add (local.get $phases) (i32.mul (local.get $phase) (local.get $tapBytes))))
            (local.set $end (i32.add (local.get $c) (local.get $tapBytes)))
            (local.set $h (i32.add (local.get $line) (i32.shl (local.get $i) (i32.const 3))))
            ;; Two accumulators of two lanes each: four taps per step.
            (local.set $a (v128.const f64x2 0 0))
            (local.set $b (v128.const f64x2 0 0))
            (loop $taps
              (local.set $a
                (f64x2.add (local.get $a)
                  (f64x2.mul (v128.load (local.get $c)) (v128.load (local.get $h)))))
              (local.set $b
                (f64x2.add (local.get $b)
                  (f64x2.mul (v128.load offset=16 (local.get $c)) (v128.load offset=16 (local.get $h)))))
              (local.set $c (i32.add (local.get $c) (i32.const 32)))
              (local.set $h (i32.add (local.get $h) (i32.const 32)))
              (br_if $taps (i32.lt_u (local.get $c) (local.get $end))))
            (local.set $a (f64x2.add (local.get $a) (local.get $b)))
            (f64.store
              (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 3)))
              (f64.add (f64x2.extract_lane 0 (local.get $a)) (f64x2.extract_lane 1 (local.get $a))))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (local.set $phase (i32.add (local.get $phase) (local.get $down)))
            (br $outputs)))
        (local.set $phase (i32.sub (local.get $phase) (local.get $up)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $inputs)))
    (local.get $n)))
