;; The DSP chain's inner loops in WebAssembly (SIMD where it pays). V8 neither vectorises
;; JavaScript nor drops its typed-array bounds checks; these loops run 1.2 to 3 times faster here.
;; Every buffer lives in one memory per chain (see arena.ts); arguments are byte offsets into it.
(module
  (import "env" "memory" (memory 1))

  ;; resample: the polyphase resampler's dot products (../resampler.ts owns the design and state).
  ;;   phases: up × taps coefficients, phase-major, each phase in chronological order;
  ;;   line:   the last taps - 1 samples of earlier frames, then this frame's samples, so that the
  ;;           taps ending at input i are line[i .. i + taps) (written by the caller beforehand:
  ;;           the kernel only reads them, which keeps 16-byte loads off just-stored 8-byte values);
  ;;   out:    the output samples.
  ;; taps is a multiple of 4. Returns the number of outputs; the caller advances `phase` by
  ;; outputs·down - length·up and moves the line's tail to its start.
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
    (local.get $n))

  ;; cascade: biquads in direct form I (see ../sos-cascade.ts) over src[0..n) into dst (may be src),
  ;; the output also into copy[0..n) (copy = dst for none: a sample ring written in the same pass).
  ;; coef: 5 f64 per section (b0 b1 b2 a1 a2); state: 4 f64 per section (x1 x2 y1 y2).
  (func (export "cascade")
    (param $coef i32) (param $state i32) (param $src i32) (param $dst i32) (param $n i32)
    (param $sections i32) (param $copy i32)
    (local $s i32) (local $i i32) (local $end i32) (local $from i32) (local $c i32) (local $st i32)
    (local $b0 f64) (local $b1 f64) (local $b2 f64) (local $a1 f64) (local $a2 f64)
    (local $x1 f64) (local $x2 f64) (local $y1 f64) (local $y2 f64) (local $x f64) (local $y f64)
    (local $also i32)
    (local.set $from (local.get $src))
    (local.set $end (i32.shl (local.get $n) (i32.const 3)))
    (block $sectionsDone
      (loop $sections
        (br_if $sectionsDone (i32.ge_u (local.get $s) (local.get $sections)))
        (local.set $c (i32.add (local.get $coef) (i32.mul (local.get $s) (i32.const 40))))
        (local.set $st (i32.add (local.get $state) (i32.shl (local.get $s) (i32.const 5))))
        (local.set $b0 (f64.load (local.get $c)))
        (local.set $b1 (f64.load offset=8 (local.get $c)))
        (local.set $b2 (f64.load offset=16 (local.get $c)))
        (local.set $a1 (f64.load offset=24 (local.get $c)))
        (local.set $a2 (f64.load offset=32 (local.get $c)))
        (local.set $x1 (f64.load (local.get $st)))
        (local.set $x2 (f64.load offset=8 (local.get $st)))
        (local.set $y1 (f64.load offset=16 (local.get $st)))
        (local.set $y2 (f64.load offset=24 (local.get $st)))
        ;; The last section stores each output twice, to dst and to copy; the others to dst twice.
        (local.set $also
          (select (local.get $copy) (local.get $dst)
            (i32.eq (local.get $s) (i32.sub (local.get $sections) (i32.const 1)))))
        (local.set $i (i32.const 0))
        (block $samplesDone
          (loop $samples
            (br_if $samplesDone (i32.ge_u (local.get $i) (local.get $end)))
            (local.set $x (f64.load (i32.add (local.get $from) (local.get $i))))
            ;; Everything but a1·y[n-1] first, off the recursion's critical path.
            (local.set $y
              (f64.sub
                (f64.sub
                  (f64.add
                    (f64.add (f64.mul (local.get $b0) (local.get $x)) (f64.mul (local.get $b1) (local.get $x1)))
                    (f64.mul (local.get $b2) (local.get $x2)))
                  (f64.mul (local.get $a2) (local.get $y2)))
                (f64.mul (local.get $a1) (local.get $y1))))
            (local.set $x2 (local.get $x1))
            (local.set $x1 (local.get $x))
            (local.set $y2 (local.get $y1))
            (local.set $y1 (local.get $y))
            (f64.store (i32.add (local.get $dst) (local.get $i)) (local.get $y))
            (f64.store (i32.add (local.get $also) (local.get $i)) (local.get $y))
            (local.set $i (i32.add (local.get $i) (i32.const 8)))
            (br $samples)))
        (f64.store (local.get $st) (local.get $x1))
        (f64.store offset=8 (local.get $st) (local.get $x2))
        (f64.store offset=16 (local.get $st) (local.get $y1))
        (f64.store offset=24 (local.get $st) (local.get $y2))
        (local.set $from (local.get $dst))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $sections))))

  ;; blockStats: adds a stretch of n samples inside one window block (see ../windower.ts) to the
  ;; block's row of sums: of the cleaned signal c (Σc, Σc², Σc³, Σc⁴, min, max) and the raw signal r
  ;; (Σr, Σr²), two samples per step; of the QRS band's squares (its bandCount samples in the
  ;; stretch, from `band`); of the baseline, a biquad (transposed form II, coefficients b0 b1 b2 a1
  ;; a2 at baseCoef) run on r[baseFirst], r[baseFirst + 4], …; and the count of flat samples:
  ;; samples of runs of exactly repeated raw values; a run counts all its samples once it has
  ;; `flatRunMin` repeats, then each further repeat. state holds the last raw value, the run's
  ;; repeats and the baseline filter's two state values. Row fields (f64): 0 n, 1-4 Σc..Σc⁴,
  ;; 5-6 Σr Σr², 7-9 Σbase Σbase² count, 10 Σband², 11 flat, 15 min c, 16 max c, 17 band count.
  (func (export "blockStats")
    (param $c i32) (param $r i32) (param $n i32) (param $band i32) (param $bandCount i32)
    (param $baseFirst i32) (param $baseCoef i32) (param $state i32) (param $flatRunMin f64)
    (param $row i32)
    (local $i i32) (local $pairs i32) (local $v v128) (local $v2 v128) (local $w v128)
    (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s4 v128) (local $lo v128) (local $hi v128)
    (local $q1 v128) (local $q2 v128) (local $prev v128) (local $eq v128)
    (local $t f64) (local $t2 f64) (local $r1 f64) (local $r2 f64) (local $r3 f64) (local $r4 f64)
    (local $min f64) (local $max f64) (local $raw1 f64) (local $raw2 f64)
    (local $last f64) (local $run f64) (local $flat f64) (local $x f64)
    (local $b0 f64) (local $b1 f64) (local $b2 f64) (local $a1 f64) (local $a2 f64)
    (local $z1 f64) (local $z2 f64) (local $y f64) (local $bs1 f64) (local $bs2 f64) (local $bn f64)
    (local $band2 f64) (local $end i32)
    (local.set $last (f64.load (local.get $state)))
    (local.set $run (f64.load offset=8 (local.get $state)))
    (local.set $lo (f64x2.splat (f64.const inf)))
    (local.set $hi (f64x2.splat (f64.const -inf)))
    ;; Lane 1 of prev is the raw sample before the pair: each pair is compared with its predecessors.
    (local.set $prev (f64x2.splat (local.get $last)))
    (local.set $pairs (i32.shl (i32.and (local.get $n) (i32.const -2)) (i32.const 3)))
    (block $pairsDone
      (loop $pairsLoop
        (br_if $pairsDone (i32.ge_u (local.get $i) (local.get $pairs)))
        (local.set $v (v128.load (i32.add (local.get $c) (local.get $i))))
        (local.set $v2 (f64x2.mul (local.get $v) (local.get $v)))
        (local.set $s1 (f64x2.add (local.get $s1) (local.get $v)))
        (local.set $s2 (f64x2.add (local.get $s2) (local.get $v2)))
        (local.set $s3 (f64x2.add (local.get $s3) (f64x2.mul (local.get $v2) (local.get $v))))
        (local.set $s4 (f64x2.add (local.get $s4) (f64x2.mul (local.get $v2) (local.get $v2))))
        (local.set $lo (f64x2.pmin (local.get $lo) (local.get $v)))
        (local.set $hi (f64x2.pmax (local.get $hi) (local.get $v)))
        (local.set $w (v128.load (i32.add (local.get $r) (local.get $i))))
        (local.set $q1 (f64x2.add (local.get $q1) (local.get $w)))
        (local.set $q2 (f64x2.add (local.get $q2) (f64x2.mul (local.get $w) (local.get $w))))
        (local.set $eq
          (v128.or (local.get $eq)
            (f64x2.eq (local.get $w)
              (i8x16.shuffle 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 (local.get $prev) (local.get $w)))))
        (local.set $prev (local.get $w))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $pairsLoop)))
    (local.set $r1 (f64.add (f64x2.extract_lane 0 (local.get $s1)) (f64x2.extract_lane 1 (local.get $s1))))
    (local.set $r2 (f64.add (f64x2.extract_lane 0 (local.get $s2)) (f64x2.extract_lane 1 (local.get $s2))))
    (local.set $r3 (f64.add (f64x2.extract_lane 0 (local.get $s3)) (f64x2.extract_lane 1 (local.get $s3))))
    (local.set $r4 (f64.add (f64x2.extract_lane 0 (local.get $s4)) (f64x2.extract_lane 1 (local.get $s4))))
    (local.set $min (f64.min (f64x2.extract_lane 0 (local.get $lo)) (f64x2.extract_lane 1 (local.get $lo))))
    (local.set $max (f64.max (f64x2.extract_lane 0 (local.get $hi)) (f64x2.extract_lane 1 (local.get $hi))))
    (local.set $raw1 (f64.add (f64x2.extract_lane 0 (local.get $q1)) (f64x2.extract_lane 1 (local.get $q1))))
    (local.set $raw2 (f64.add (f64x2.extract_lane 0 (local.get $q2)) (f64x2.extract_lane 1 (local.get $q2))))
    ;; An odd count leaves one sample.
    (if (i32.and (local.get $n) (i32.const 1))
      (then
        (local.set $t (f64.load (i32.add (local.get $c) (local.get $pairs))))
        (local.set $t2 (f64.mul (local.get $t) (local.get $t)))
        (local.set $r1 (f64.add (local.get $r1) (local.get $t)))
        (local.set $r2 (f64.add (local.get $r2) (local.get $t2)))
        (local.set $r3 (f64.add (local.get $r3) (f64.mul (local.get $t2) (local.get $t))))
        (local.set $r4 (f64.add (local.get $r4) (f64.mul (local.get $t2) (local.get $t2))))
        (local.set $min (f64.min (local.get $min) (local.get $t)))
        (local.set $max (f64.max (local.get $max) (local.get $t)))
        (local.set $t (f64.load (i32.add (local.get $r) (local.get $pairs))))
        (local.set $raw1 (f64.add (local.get $raw1) (local.get $t)))
        (local.set $raw2 (f64.add (local.get $raw2) (f64.mul (local.get $t) (local.get $t))))
        (local.set $eq
          (v128.or (local.get $eq)
            (f64x2.splat (f64.convert_i32_u (f64.eq (local.get $t) (f64x2.extract_lane 1 (local.get $prev)))))))))
    ;; Flat runs. Real ECG rarely repeats a raw value exactly: without a repeat in the stretch
    ;; every run ends at once (run 0, nothing flat), so the sample loop runs only on repeats. It has
    ;; no branches: they would mispredict on real signals.
    (if (v128.any_true (local.get $eq))
      (then
        (local.set $i (i32.const 0))
        (local.set $end (i32.shl (local.get $n) (i32.const 3)))
        (block $flatDone
          (loop $flatLoop
            (br_if $flatDone (i32.ge_u (local.get $i) (local.get $end)))
            (local.set $x (f64.load (i32.add (local.get $r) (local.get $i))))
            (local.set $run
              (select (f64.add (local.get $run) (f64.const 1)) (f64.const 0) (f64.eq (local.get $x) (local.get $last))))
            (local.set $flat
              (f64.add (local.get $flat)
                (f64.add
                  (select (local.get $flatRunMin) (f64.const 0) (f64.eq (local.get $run) (local.get $flatRunMin)))
                  (select (f64.const 1) (f64.const 0) (f64.gt (local.get $run) (local.get $flatRunMin))))))
            (local.set $last (local.get $x))
            (local.set $i (i32.add (local.get $i) (i32.const 8)))
            (br $flatLoop))))
      (else
        (if (local.get $n)
          (then
            (local.set $run (f64.const 0))
            (local.set $last
              (f64.load (i32.add (local.get $r) (i32.shl (i32.sub (local.get $n) (i32.const 1)) (i32.const 3)))))))))
    (f64.store (local.get $state) (local.get $last))
    (f64.store offset=8 (local.get $state) (local.get $run))
    ;; The baseline filter, on every fourth sample.
    (local.set $b0 (f64.load (local.get $baseCoef)))
    (local.set $b1 (f64.load offset=8 (local.get $baseCoef)))
    (local.set $b2 (f64.load offset=16 (local.get $baseCoef)))
    (local.set $a1 (f64.load offset=24 (local.get $baseCoef)))
    (local.set $a2 (f64.load offset=32 (local.get $baseCoef)))
    (local.set $z1 (f64.load offset=16 (local.get $state)))
    (local.set $z2 (f64.load offset=24 (local.get $state)))
    (local.set $i (i32.shl (local.get $baseFirst) (i32.const 3)))
    (local.set $end (i32.shl (local.get $n) (i32.const 3)))
    (block $baseDone
      (loop $baseLoop
        (br_if $baseDone (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $x (f64.load (i32.add (local.get $r) (local.get $i))))
        (local.set $y (f64.add (f64.mul (local.get $b0) (local.get $x)) (local.get $z1)))
        (local.set $z1
          (f64.add
            (f64.sub (f64.mul (local.get $b1) (local.get $x)) (f64.mul (local.get $a1) (local.get $y)))
            (local.get $z2)))
        (local.set $z2 (f64.sub (f64.mul (local.get $b2) (local.get $x)) (f64.mul (local.get $a2) (local.get $y))))
        (local.set $bs1 (f64.add (local.get $bs1) (local.get $y)))
        (local.set $bs2 (f64.add (local.get $bs2) (f64.mul (local.get $y) (local.get $y))))
        (local.set $bn (f64.add (local.get $bn) (f64.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 32)))
        (br $baseLoop)))
    (f64.store offset=16 (local.get $state) (local.get $z1))
    (f64.store offset=24 (local.get $state) (local.get $z2))
    ;; The QRS band's power.
    (local.set $i (i32.const 0))
    (local.set $end (i32.shl (local.get $bandCount) (i32.const 3)))
    (block $bandDone
      (loop $bandLoop
        (br_if $bandDone (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $x (f64.load (i32.add (local.get $band) (local.get $i))))
        (local.set $band2 (f64.add (local.get $band2) (f64.mul (local.get $x) (local.get $x))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $bandLoop)))
    ;; Into the block's row.
    (f64.store (local.get $row) (f64.add (f64.load (local.get $row)) (f64.convert_i32_u (local.get $n))))
    (f64.store offset=8 (local.get $row) (f64.add (f64.load offset=8 (local.get $row)) (local.get $r1)))
    (f64.store offset=16 (local.get $row) (f64.add (f64.load offset=16 (local.get $row)) (local.get $r2)))
    (f64.store offset=24 (local.get $row) (f64.add (f64.load offset=24 (local.get $row)) (local.get $r3)))
    (f64.store offset=32 (local.get $row) (f64.add (f64.load offset=32 (local.get $row)) (local.get $r4)))
    (f64.store offset=40 (local.get $row) (f64.add (f64.load offset=40 (local.get $row)) (local.get $raw1)))
    (f64.store offset=48 (local.get $row) (f64.add (f64.load offset=48 (local.get $row)) (local.get $raw2)))
    (f64.store offset=56 (local.get $row) (f64.add (f64.load offset=56 (local.get $row)) (local.get $bs1)))
    (f64.store offset=64 (local.get $row) (f64.add (f64.load offset=64 (local.get $row)) (local.get $bs2)))
    (f64.store offset=72 (local.get $row) (f64.add (f64.load offset=72 (local.get $row)) (local.get $bn)))
    (f64.store offset=80 (local.get $row) (f64.add (f64.load offset=80 (local.get $row)) (local.get $band2)))
    (f64.store offset=88 (local.get $row) (f64.add (f64.load offset=88 (local.get $row)) (local.get $flat)))
    (f64.store offset=136 (local.get $row)
      (f64.add (f64.load offset=136 (local.get $row)) (f64.convert_i32_u (local.get $bandCount))))
    ;; The first of equal extremes stays, as comparisons would keep it.
    (local.set $t (f64.load offset=120 (local.get $row)))
    (f64.store offset=120 (local.get $row) (select (local.get $min) (local.get $t) (f64.lt (local.get $min) (local.get $t))))
    (local.set $t (f64.load offset=128 (local.get $row)))
    (f64.store offset=128 (local.get $row) (select (local.get $max) (local.get $t) (f64.gt (local.get $max) (local.get $t)))))

  ;; qrsFeatures: from every `step`-th sample of clean[first..n), the QRS band (two biquads in
  ;; direct form I, as `cascade` computes them), Pan-Tompkins' derivative, its magnitude and their
  ;; moving-window integral (MWI); see ../rpeak-detector.ts, which picks the peaks. Writes the band
  ;; to band[], |derivative| to slopeRing[(index + j) & mask], the MWI to mwi[]; returns the count.
  ;; coef: the two sections' b0 b1 b2 a1 a2; state: their x1 x2 y1 y2, then the band's last four
  ;; values and the MWI's running sum; mwiRing holds the last `window` magnitudes from `pos`.
  (func (export "qrsFeatures")
    (param $clean i32) (param $first i32) (param $n i32) (param $step i32)
    (param $coef i32) (param $state i32) (param $band i32) (param $mwiRing i32) (param $window i32)
    (param $pos i32) (param $slopeRing i32) (param $mask i32) (param $index i32) (param $mwi i32)
    (result i32)
    (local $p i32) (local $j i32) (local $x f64) (local $u f64) (local $b f64)
    (local $p0 f64) (local $p1 f64) (local $p2 f64) (local $p3 f64) (local $p4 f64)
    (local $q0 f64) (local $q1 f64) (local $q2 f64) (local $q3 f64) (local $q4 f64)
    (local $ux1 f64) (local $ux2 f64) (local $uy1 f64) (local $uy2 f64)
    (local $vx1 f64) (local $vx2 f64) (local $vy1 f64) (local $vy2 f64)
    (local $d0 f64) (local $d1 f64) (local $d2 f64) (local $d3 f64)
    (local $sum f64) (local $deriv f64) (local $mag f64) (local $at i32)
    (local.set $p0 (f64.load (local.get $coef)))
    (local.set $p1 (f64.load offset=8 (local.get $coef)))
    (local.set $p2 (f64.load offset=16 (local.get $coef)))
    (local.set $p3 (f64.load offset=24 (local.get $coef)))
    (local.set $p4 (f64.load offset=32 (local.get $coef)))
    (local.set $q0 (f64.load offset=40 (local.get $coef)))
    (local.set $q1 (f64.load offset=48 (local.get $coef)))
    (local.set $q2 (f64.load offset=56 (local.get $coef)))
    (local.set $q3 (f64.load offset=64 (local.get $coef)))
    (local.set $q4 (f64.load offset=72 (local.get $coef)))
    (local.set $ux1 (f64.load (local.get $state)))
    (local.set $ux2 (f64.load offset=8 (local.get $state)))
    (local.set $uy1 (f64.load offset=16 (local.get $state)))
    (local.set $uy2 (f64.load offset=24 (local.get $state)))
    (local.set $vx1 (f64.load offset=32 (local.get $state)))
    (local.set $vx2 (f64.load offset=40 (local.get $state)))
    (local.set $vy1 (f64.load offset=48 (local.get $state)))
    (local.set $vy2 (f64.load offset=56 (local.get $state)))
    (local.set $d0 (f64.load offset=64 (local.get $state)))
    (local.set $d1 (f64.load offset=72 (local.get $state)))
    (local.set $d2 (f64.load offset=80 (local.get $state)))
    (local.set $d3 (f64.load offset=88 (local.get $state)))
    (local.set $sum (f64.load offset=96 (local.get $state)))
    (local.set $p (local.get $first))
    (block $done
      (loop $samples
        (br_if $done (i32.ge_u (local.get $p) (local.get $n)))
        (local.set $x (f64.load (i32.add (local.get $clean) (i32.shl (local.get $p) (i32.const 3)))))
        ;; The band-pass: two sections, the same arithmetic as `cascade`.
        (local.set $u
          (f64.sub
            (f64.sub
              (f64.add
                (f64.add (f64.mul (local.get $p0) (local.get $x)) (f64.mul (local.get $p1) (local.get $ux1)))
                (f64.mul (local.get $p2) (local.get $ux2)))
              (f64.mul (local.get $p4) (local.get $uy2)))
            (f64.mul (local.get $p3) (local.get $uy1))))
        (local.set $ux2 (local.get $ux1))
        (local.set $ux1 (local.get $x))
        (local.set $uy2 (local.get $uy1))
        (local.set $uy1 (local.get $u))
        (local.set $b
          (f64.sub
            (f64.sub
              (f64.add
                (f64.add (f64.mul (local.get $q0) (local.get $u)) (f64.mul (local.get $q1) (local.get $vx1)))
                (f64.mul (local.get $q2) (local.get $vx2)))
              (f64.mul (local.get $q4) (local.get $vy2)))
            (f64.mul (local.get $q3) (local.get $vy1))))
        (local.set $vx2 (local.get $vx1))
        (local.set $vx1 (local.get $u))
        (local.set $vy2 (local.get $vy1))
        (local.set $vy1 (local.get $b))
        (f64.store (i32.add (local.get $band) (i32.shl (local.get $j) (i32.const 3))) (local.get $b))
        ;; (2x[n] + x[n-1] - x[n-3] - 2x[n-4]) / 8
        (local.set $deriv
          (f64.mul
            (f64.sub
              (f64.sub (f64.add (f64.mul (f64.const 2) (local.get $b)) (local.get $d0)) (local.get $d2))
              (f64.mul (f64.const 2) (local.get $d3)))
            (f64.const 0.125)))
        (local.set $d3 (local.get $d2))
        (local.set $d2 (local.get $d1))
        (local.set $d1 (local.get $d0))
        (local.set $d0 (local.get $b))
        (f64.store
          (i32.add (local.get $slopeRing)
            (i32.shl (i32.and (i32.add (local.get $index) (local.get $j)) (local.get $mask)) (i32.const 3)))
          (f64.abs (local.get $deriv)))
        (local.set $mag (f64.abs (local.get $deriv)))
        (local.set $at (i32.add (local.get $mwiRing) (i32.shl (local.get $pos) (i32.const 3))))
        (local.set $sum (f64.add (local.get $sum) (f64.sub (local.get $mag) (f64.load (local.get $at)))))
        (f64.store (local.get $at) (local.get $mag))
        (local.set $pos (i32.add (local.get $pos) (i32.const 1)))
        (if (i32.eq (local.get $pos) (local.get $window)) (then (local.set $pos (i32.const 0))))
        ;; The running sum can dip below 0 by rounding.
        (f64.store (i32.add (local.get $mwi) (i32.shl (local.get $j) (i32.const 3)))
          (select (local.get $sum) (f64.const 0) (f64.gt (local.get $sum) (f64.const 0))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (local.get $step)))
        (br $samples)))
    (f64.store (local.get $state) (local.get $ux1))
    (f64.store offset=8 (local.get $state) (local.get $ux2))
    (f64.store offset=16 (local.get $state) (local.get $uy1))
    (f64.store offset=24 (local.get $state) (local.get $uy2))
    (f64.store offset=32 (local.get $state) (local.get $vx1))
    (f64.store offset=40 (local.get $state) (local.get $vx2))
    (f64.store offset=48 (local.get $state) (local.get $vy1))
    (f64.store offset=56 (local.get $state) (local.get $vy2))
    (f64.store offset=64 (local.get $state) (local.get $d0))
    (f64.store offset=72 (local.get $state) (local.get $d1))
    (f64.store offset=80 (local.get $state) (local.get $d2))
    (f64.store offset=88 (local.get $state) (local.get $d3))
    (f64.store offset=96 (local.get $state) (local.get $sum))
    (local.get $j))
)
