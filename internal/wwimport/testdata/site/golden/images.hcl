# Warewulf's images: each one's rootfs directory on the gitboot server.

image "rockylinux_9" {
  source = "/srv/warewulf/images/rockylinux-9/rootfs"
}

image "rockylinux_9_cuda" {
  source = "/srv/warewulf/images/rockylinux-9-cuda/rootfs"
}
