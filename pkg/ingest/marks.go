package ingest

import (
	"context"
	"fmt"

	"avsync/pkg/exitcode"
	"avsync/pkg/record"
	"avsync/pkg/store"
)

// marksGroup is a stars/pins snapshot being read.
type marksGroup struct {
	store.Marks
	line int
	skip bool // discarded: its records go quietly up to its marks_end
}

// mark reads a stars/pins snapshot. It is small, so it is kept in memory
// until its marks_end, then applied whole inside the batch.
func (w *Writer) mark(ctx context.Context, kind string, line []byte) error {
	if kind == record.KindMarks {
		if w.grp != nil && !w.grp.skip {
			w.failGroup(ctx, w.in.Errorf(w.grp.session.ID, "no session_end before the marks snapshot (header at line %d): group discarded", w.grp.line))
			w.sum.BadLines++
		}
		w.grp = nil
		var m record.Marks
		if err := record.Decode(line, &m); err != nil {
			w.marks = nil
			return w.badLine(ctx, "", err)
		}
		if m.Machine != w.opt.Machine {
			w.marks = &marksGroup{skip: true}
			return w.badLine(ctx, "", fmt.Errorf("marks snapshot for machine %q, but this av-write writes machine %q: discarded", m.Machine, w.opt.Machine))
		}
		w.marks = &marksGroup{Marks: store.Marks{Reporter: m.Machine, UserID: m.UserID}, line: w.in.Line()}
		return nil
	}
	if w.marks == nil {
		return w.badLine(ctx, "", fmt.Errorf("%s outside a marks snapshot", kind))
	}
	if w.marks.skip {
		if kind == record.KindMarksEnd {
			w.marks = nil
		}
		return nil
	}
	var err error
	switch kind {
	case record.KindStar:
		var st record.Star
		if err = record.Decode(line, &st); err == nil {
			w.marks.Stars = append(w.marks.Stars, st)
		}
	case record.KindPin:
		var p record.Pin
		if err = record.Decode(line, &p); err == nil {
			if err := w.requireMasked(p.SessionID, p.Masked); err != nil {
				return err
			}
			w.marks.Pins = append(w.marks.Pins, p)
		}
	case record.KindMarksEnd:
		return w.marksEnd(ctx, line)
	}
	if err != nil {
		w.marks = nil
		return w.badLine(ctx, "", fmt.Errorf("%v: marks snapshot discarded", err))
	}
	return nil
}

func (w *Writer) marksEnd(ctx context.Context, line []byte) error {
	m := w.marks
	w.marks = nil
	var end record.MarksEnd
	if err := record.Decode(line, &end); err != nil {
		return w.badLine(ctx, "", err)
	}
	if end.Stars != int64(len(m.Stars)) || end.Pins != int64(len(m.Pins)) {
		return w.badLine(ctx, "", fmt.Errorf("incomplete marks snapshot (opened at line %d): marks_end counts %d stars and %d pins, the stream had %d and %d: discarded",
			m.line, end.Stars, end.Pins, len(m.Stars), len(m.Pins)))
	}
	if err := w.openBatch(ctx); err != nil {
		return err
	}
	if err := w.kept(w.batch.ReplaceMarks(ctx, &m.Marks)); err != nil {
		return exitcode.Wrap(exitcode.Store, fmt.Errorf("store stars and pins: %w", err))
	}
	w.sum.Stars, w.sum.Pins = int64(len(m.Stars)), int64(len(m.Pins))
	w.marksDone = end.Digest
	return nil
}
