package hash

// crc16Table is the table of CRC-16/XMODEM (polynomial 0x1021, MSB first).
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC16 is twemproxy's crc16: CRC-16/XMODEM whose 32-bit accumulator is
// never masked to 16 bits.
//
// Quirk: the low 16 bits equal CRC-16/XMODEM, but the bits shifted above bit
// 15 are kept, so for keys longer than one byte the result is wider than 16
// bits. Masking it (the textbook CRC16) would put keys on other servers.
func CRC16(key []byte) uint32 {
	var crc uint32
	for _, c := range key {
		crc = crc<<8 ^ uint32(crc16Table[byte(crc>>8)^c])
	}
	return crc
}
