# Warewulf's node profiles. Warewulf appends profile lists; gitboot's lists
# replace, so nodes whose lists differ set them themselves (nodes.hcl).

profile "compute" {
  kernel_args      = ["console=ttyS0"]
  runtime_overlays = [overlay.slurm]
  tags = {
    role = "compute"
  }
}

profile "default" {
  # Every node of the site
  image            = image.rockylinux_9
  kernel_args      = ["quiet", "crashkernel=no"]
  system_overlays  = [overlay.hostname]
  runtime_overlays = [overlay.hosts, overlay.generic]
  tags = {
    site = "lab"
  }
  root = "initramfs"
}

profile "gpu" {
  profiles        = [profile.compute]
  image           = image.rockylinux_9_cuda
  kernel_args     = ["console=ttyS0", "nvidia-drm.modeset=1"]
  system_overlays = []
  tags = {
    role = "gpu"
  }
}

profile "tmpfs" {
  # Nodes that run containers need a real root mount
  root = "tmpfs"
}
