package importer

import (
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/validator"
)

func validatorSource(d delegation.Delegation) validator.Source {
	return validator.NewSource(d.Capabilities()[0], d)
}
