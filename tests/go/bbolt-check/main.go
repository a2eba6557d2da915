// bbolt-check: Go's own bbolt judging the files etcd-ts writes (and writing files for our reader).
//
//	bbolt-check dump <file>         tx.Check(), then every bucket and pair in key order (hex)
//	bbolt-check mutate <file>       opens read-write, overwrites/deletes/adds keys in every bucket and
//	                                commits twice, then tx.Check() again: bbolt can go on using the file
//	bbolt-check gen <file> <seed>   writes a file with bbolt itself (nested and inline buckets, overflow
//	                                values, deletions so the freelist is not empty), then dumps it
//
// dump output, one line each:
//
//	meta pagesize=<n> pages=<high-water mark> seq=<root sequence>
//	B <path> <sequence>            a bucket; path = hex names joined by '/'
//	K <path> <key hex> <value hex>
//	check ok
//
// Built offline in GOPATH mode against Debian's go.etcd.io/bbolt (see src/snap/bbolt/go-bbolt.test.ts).
package main

import (
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
)

func main() {
	if len(os.Args) < 3 {
		fail("usage: bbolt-check dump|mutate|gen <file> [seed]")
	}
	path := os.Args[2]
	switch os.Args[1] {
	case "dump":
		dump(path)
	case "mutate":
		mutate(path)
	case "gen":
		var seed int64
		if len(os.Args) > 3 {
			fmt.Sscan(os.Args[3], &seed)
		}
		gen(path, seed)
		dump(path)
	default:
		fail("unknown command " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}

func check(tx *bolt.Tx) {
	var errs []string
	for err := range tx.Check() {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		fail("tx.Check failed:\n" + strings.Join(errs, "\n"))
	}
}

func dump(path string) {
	db, err := bolt.Open(path, 0400, &bolt.Options{ReadOnly: true})
	if err != nil {
		fail("open: " + err.Error())
	}
	defer db.Close()
	out := os.Stdout
	err = db.View(func(tx *bolt.Tx) error {
		check(tx)
		fmt.Fprintf(out, "meta pagesize=%d pages=%d\n", db.Info().PageSize, tx.Size()/int64(db.Info().PageSize))
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			dumpBucket(out, hex.EncodeToString(name), b)
			return nil
		})
	})
	if err != nil {
		fail("view: " + err.Error())
	}
	fmt.Fprintln(out, "check ok")
}

func dumpBucket(out *os.File, path string, b *bolt.Bucket) {
	fmt.Fprintf(out, "B %s %d\n", path, b.Sequence())
	_ = b.ForEach(func(k, v []byte) error {
		if v == nil {
			if child := b.Bucket(k); child != nil {
				dumpBucket(out, path+"/"+hex.EncodeToString(k), child)
				return nil
			}
		}
		fmt.Fprintf(out, "K %s %s %s\n", path, hex.EncodeToString(k), hex.EncodeToString(v))
		return nil
	})
}

func mutate(path string) {
	db, err := bolt.Open(path, 0600, nil)
	if err != nil {
		fail("open read-write: " + err.Error())
	}
	defer db.Close()
	for round := 0; round < 2; round++ {
		err = db.Update(func(tx *bolt.Tx) error {
			var names [][]byte
			_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				names = append(names, append([]byte(nil), name...))
				return nil
			})
			for _, name := range names {
				b := tx.Bucket(name)
				var keys [][]byte
				_ = b.ForEach(func(k, v []byte) error {
					if v != nil {
						keys = append(keys, append([]byte(nil), k...))
					}
					return nil
				})
				for i, k := range keys {
					switch i % 3 {
					case 0:
						if err := b.Delete(k); err != nil {
							return err
						}
					case 1:
						if err := b.Put(k, []byte(strings.Repeat("x", 100*round+10))); err != nil {
							return err
						}
					}
				}
				for i := 0; i < 500; i++ {
					if err := b.Put([]byte(fmt.Sprintf("mutate-%d-%05d", round, i)), make([]byte, 50+i%700)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			fail("update: " + err.Error())
		}
	}
	err = db.View(func(tx *bolt.Tx) error {
		check(tx)
		return nil
	})
	if err != nil {
		fail("view: " + err.Error())
	}
	fmt.Println("mutate ok")
}

func gen(path string, seed int64) {
	_ = os.Remove(path)
	db, err := bolt.Open(path, 0600, nil)
	if err != nil {
		fail("create: " + err.Error())
	}
	r := rand.New(rand.NewSource(seed))
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		r.Read(b)
		return b
	}
	err = db.Update(func(tx *bolt.Tx) error {
		big, _ := tx.CreateBucket([]byte("big"))
		for i := 0; i < 3000; i++ {
			if err := big.Put([]byte(fmt.Sprintf("k%06d", i)), randBytes(r.Intn(200))); err != nil {
				return err
			}
		}
		for i := 0; i < 5; i++ {
			if err := big.Put([]byte(fmt.Sprintf("overflow%d", i)), randBytes(5000+r.Intn(20000))); err != nil {
				return err
			}
		}
		_, _ = big.NextSequence()
		_, _ = big.NextSequence()
		tx.CreateBucket([]byte("empty"))
		small, _ := tx.CreateBucket([]byte("small"))
		small.Put([]byte("a"), []byte("1"))
		small.Put([]byte("b"), []byte{})
		inner, _ := small.CreateBucket([]byte("inner"))
		inner.Put([]byte("x"), []byte("y"))
		deep, _ := inner.CreateBucket([]byte("deep"))
		for i := 0; i < 400; i++ {
			deep.Put(randBytes(1+r.Intn(30)), randBytes(r.Intn(100)))
		}
		return nil
	})
	if err != nil {
		fail("gen: " + err.Error())
	}
	// A second transaction frees pages, so the freelist the reader skips is not empty.
	err = db.Update(func(tx *bolt.Tx) error {
		big := tx.Bucket([]byte("big"))
		for i := 0; i < 3000; i += 2 {
			if err := big.Delete([]byte(fmt.Sprintf("k%06d", i))); err != nil {
				return err
			}
		}
		return big.Delete([]byte("overflow1"))
	})
	if err != nil {
		fail("gen delete: " + err.Error())
	}
	db.Close()
}
