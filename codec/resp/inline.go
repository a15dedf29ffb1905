package resp

// Inline requests ("SET k v\r\n") are split as redis splits them
// (sdssplitargs): arguments are separated by C isspace bytes; "..." takes
// \n \r \t \b \a and \xHH escapes and \<other> for <other>; '...' takes \'
// only; a closing quote must be followed by a space or the end of the line.
// Unlike redis, a NUL byte is an ordinary byte, not the end of the line.
//
// An argument without quotes is a view into the line. One with quotes is
// decoded into p.scratch (its decoded form is never longer than the line, so
// scratch is sized once per line and never moves while the line is split);
// its offsets are stored complemented (^off) so finish can tell them apart.

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// splitInline appends the arguments of line (which starts at b[0]) to p.offs.
func (p *Parser) splitInline(line []byte) error {
	p.scratch = p.scratch[:0]
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return nil
		}
		if len(p.offs)/2 >= p.lim.MaxArgs {
			return ErrTooManyArgs
		}
		start := i
		for i < len(line) && !isSpace(line[i]) && line[i] != '"' && line[i] != '\'' {
			i++
		}
		if i == len(line) || isSpace(line[i]) { // fast path: no quotes
			p.offs = append(p.offs, start, i)
			continue
		}
		var err error
		if i, err = p.splitQuoted(line, start, i); err != nil {
			return err
		}
	}
}

// splitQuoted decodes the argument line[start:] whose first quote is at
// line[q] into p.scratch, and returns the offset just past it.
func (p *Parser) splitQuoted(line []byte, start, q int) (int, error) {
	if cap(p.scratch) < len(line) {
		// First quoted argument of this line (splitInline emptied scratch):
		// all of the line's decoded arguments fit in len(line).
		p.scratch = make([]byte, 0, len(line))
	}
	s := p.scratch
	from := len(s)
	s = append(s, line[start:q]...)
	i := q
	for i < len(line) && !isSpace(line[i]) {
		c := line[i]
		switch c {
		case '"':
			i++
			for {
				if i == len(line) {
					return 0, ErrUnbalancedQuotes
				}
				c = line[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(line) {
					e := line[i+1]
					if e == 'x' && i+3 < len(line) {
						hi, ok1 := hexVal(line[i+2])
						lo, ok2 := hexVal(line[i+3])
						if ok1 && ok2 {
							s = append(s, hi<<4|lo)
							i += 4
							continue
						}
					}
					switch e {
					case 'n':
						e = '\n'
					case 'r':
						e = '\r'
					case 't':
						e = '\t'
					case 'b':
						e = '\b'
					case 'a':
						e = '\a'
					}
					s = append(s, e)
					i += 2
					continue
				}
				s = append(s, c)
				i++
			}
			if i < len(line) && !isSpace(line[i]) {
				return 0, ErrUnbalancedQuotes
			}
		case '\'':
			i++
			for {
				if i == len(line) {
					return 0, ErrUnbalancedQuotes
				}
				c = line[i]
				if c == '\'' {
					i++
					break
				}
				if c == '\\' && i+1 < len(line) && line[i+1] == '\'' {
					s = append(s, '\'')
					i += 2
					continue
				}
				s = append(s, c)
				i++
			}
			if i < len(line) && !isSpace(line[i]) {
				return 0, ErrUnbalancedQuotes
			}
		default:
			s = append(s, c)
			i++
		}
	}
	p.scratch = s
	p.offs = append(p.offs, ^from, ^len(s))
	return i, nil
}
