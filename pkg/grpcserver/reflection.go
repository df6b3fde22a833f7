package grpcserver

import (
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/landscape-dev/landscape/pkg/authn"
)

// registerReflection serves reflection (v1 and v1alpha) that shows only
// the services a caller without the service credential may use: a
// service all of whose methods are Internal (the TokenService) is neither
// listed nor described, so the port does not advertise it.
func (s *Server) registerReflection() {
	opts := reflection.ServerOptions{Services: publicInfo{s}, DescriptorResolver: publicFiles{s}}
	reflectionv1.RegisterServerReflectionServer(s.Server, reflection.NewServerV1(opts))
	reflectionv1alpha.RegisterServerReflectionServer(s.Server, reflection.NewServer(opts))
}

// internalOnly reports whether every method of the registered service
// name is Internal.
func (s *Server) internalOnly(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	prefix, any := "/"+name+"/", false
	for m, p := range s.policies {
		if strings.HasPrefix(m, prefix) {
			if p != authn.Internal {
				return false
			}
			any = true
		}
	}
	return any
}

// publicInfo lists the registered services but the internal-only ones.
type publicInfo struct{ s *Server }

func (p publicInfo) GetServiceInfo() map[string]grpc.ServiceInfo {
	out := map[string]grpc.ServiceInfo{}
	for name, info := range p.s.Server.GetServiceInfo() {
		if !p.s.internalOnly(name) {
			out[name] = info
		}
	}
	return out
}

// publicFiles resolves descriptors like protoregistry.GlobalFiles but
// refuses a file that declares an internal-only service and any name in
// it, so that the service cannot be described by asking for it.
type publicFiles struct{ s *Server }

var _ protodesc.Resolver = publicFiles{}

func (p publicFiles) hidden(fd protoreflect.FileDescriptor) bool {
	svcs := fd.Services()
	for i := range svcs.Len() {
		if p.s.internalOnly(string(svcs.Get(i).FullName())) {
			return true
		}
	}
	return false
}

func (p publicFiles) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
	if err != nil {
		return nil, err
	}
	if p.hidden(fd) {
		return nil, protoregistry.NotFound
	}
	return fd, nil
}

func (p publicFiles) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
	if err != nil {
		return nil, err
	}
	if p.hidden(d.ParentFile()) {
		return nil, protoregistry.NotFound
	}
	return d, nil
}
