"""Memory of this process as /proc/self/status gives it, for every Python peer of the benches."""


def status_mb(field):
    """`VmRSS` (now) or `VmHWM` (peak) in MB. Not getrusage: a process that a JVM starts inherits the JVM's ru_maxrss
    across exec, so a peer smaller than the bench's JVM would report the JVM's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb():
    return status_mb("VmHWM")
