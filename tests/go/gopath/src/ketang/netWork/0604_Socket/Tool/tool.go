// Package Tool stands in for the tutorial author's own helper package (ketang/netWork/0604_Socket/Tool),
// which was never published. The tutorial only calls Tool.GetLocalIp() and prints what it returns; this
// returns the first non-loopback IPv4 address of this machine, or "" when there is none.
package Tool

import "net"

func GetLocalIp() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok && !ipnet.IP.IsLoopback() && ipnet.IP.To4() != nil {
			return ipnet.IP.String()
		}
	}
	return ""
}
